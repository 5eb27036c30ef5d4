"""`shopnet trace`: one probe connection followed hop by hop through the kernel.

    route.py     what a mode hands over: where the probe starts, the namespaces on
                 its path, what each interface is, and the topology's word on the flow
    nsenter.py   running a command or a thread inside a network namespace
    nfttrace.py  a temporary table per namespace that marks only the probe's flow
                 (`meta nftrace set 1`), `nft monitor trace` there, the events parsed
    drops.py     the kernel's `skb:kfree_skb` drop reasons through a tracefs instance
    conntrack.py the NAT conntrack recorded (original vs reply tuple)
    session.py   the probe itself and the order of it all: clean up, arm, probe, read,
                 disarm
    assemble.py  events, conntrack and drops → a Walk (walk.py: the result as data)
    words.py     the topology's word on the flow (the allowed-flows line, or why not)
    render.py    text, JSON and the teaching page (teaching.py: docs/packet-walk.md)
    command.py   the CLI verb; the dashboard calls its run_trace too

Nothing stays behind: every table is `<prefix>_trace`, the tracefs instance
`<prefix>-trace`, monitors die with us (PR_SET_PDEATHSIG), and `cleanup` (run
before every trace and by `shopnet down`) removes what a killed trace left.
"""
