"""How scores become decisions: decision rules, score aggregation and the route table."""
