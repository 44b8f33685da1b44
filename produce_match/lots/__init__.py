"""Produce lots offered by cooperatives."""
