"""The embedded point store (the zero-setup default): see store.py for the design, blockfile.py
for the layout of its files."""
