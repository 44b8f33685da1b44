"""Tools for developing produce_match: never part of the product, never imported by it."""
