"""What people type: the amazon-orders commands (commands.py), the demo's walkthrough (demo.py) and the UI
launcher (ui.py)."""
