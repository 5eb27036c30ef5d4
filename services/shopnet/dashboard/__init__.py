"""`shopnet dashboard`: the running topology as a live picture, and `topology --svg`.

layout.py     where tiers, instances and flows go (pure; shared by both pictures)
svg.py        the picture as SVG: the static file and the page's drawing
metrics.py    scraping and parsing the services' Prometheus /metrics
traffic.py    per-flow request rates and latency from those samples
nftcounters.py  netns: per-flow and denied-attempt counters of our nftables table
collect.py    one poller per dashboard: status, metrics, counters → snapshots
panels.py     isolation matrix, audit, latest bench and chaos charts
server.py     the aiohttp app: the page, its static files, the SSE stream
"""
