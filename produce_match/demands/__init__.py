"""Buyers' standing demands (求购): what they take, how much, at what price, where, by when."""
