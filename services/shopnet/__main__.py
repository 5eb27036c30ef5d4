from shopnet.cli import main

raise SystemExit(main())
