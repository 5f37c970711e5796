"""Network semantics (DESIGN.md §5): prefix math, routes, NSG and firewall evaluation,
connectivity and ExpressRoute geography. Pure functions over the inventory; it knows nothing
of rules, collection or reports."""
