"""The application layer: the command line, one audit run from an inventory to a report, the
demo replay, progress and file output. The only layer that sees every other one."""
