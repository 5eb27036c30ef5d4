"""`shopnet audit`: isolation measured from inside every instance, with an exposure score."""

from shopnet.audit.collect import InstanceAudit, audit
from shopnet.audit.render import format_table, side_by_side

__all__ = ["InstanceAudit", "audit", "format_table", "side_by_side"]
