"""What goes back to Amazon: stock pushed to the merchant-fulfilled listings, shipments confirmed."""
