"""The strategy's decisions: selection, the timing rule, every strategy's orders."""
