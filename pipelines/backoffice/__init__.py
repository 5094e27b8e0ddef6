"""What the back office does by hand or by file: the catalog and the clerk's commands (operations.py), packages
shipped here (shipments.py), sales returns whatever brought them (returns.py), and buyer PII retention
(privacy.py)."""
