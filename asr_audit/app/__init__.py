"""The application layer: the command line, one audit run from an inventory to a report, the
demo replay and progress. The only layer that sees every other one; nothing imports it."""
