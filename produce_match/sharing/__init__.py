"""Sharing: short links per channel, posters and texts, visits and the orders they bring."""
