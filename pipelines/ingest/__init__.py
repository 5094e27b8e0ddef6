"""What comes in from Amazon, each with its cursor: orders from searchOrders (orders.py, cursors.py), returns
reports (returns.py), FBA counts (fba_stock.py) and ORDER_CHANGE notifications (notifications.py)."""
