"""Host-network tools every mode with tier links uses: neither backend owns them.

    tools.py        run a host command (nft, tcpdump, tc …) with one-line errors
    capture.py      tcpdump on a tier's bridge into a pcap, then its summary
    pcapsummary.py  read a pcap: packets per flow, TCP flags, who talked to whom
    lossfilter.py   packet loss by nftables, for kernels without netem
    netem.py        the impairment a tier gets, and whether the kernel has netem
    ratelimit.py    a bandwidth limit (tbf) on a tier: rate parsing and tbf parameters
    links.py        a tier's veth pairs found from the host (pid + MAC), and tc on both ends

The netns mode (shopnet_netns) and the docker mode (shopnet_docker) import these;
nothing here imports either, nor pyroute2.
"""
