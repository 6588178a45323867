"""The live book: orders for the next session, the paper book, the model monitor."""
