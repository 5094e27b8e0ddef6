"""What the back office does by hand or by file: the catalog (products.py), the order an entry names
(orders.py), the clerk's questions (clerk.py), packages shipped here (shipments.py), sales returns whatever
brought them (returns.py), and buyer PII retention (privacy.py)."""
