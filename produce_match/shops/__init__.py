"""County shops (县域店铺) and the public feeds: the open lots of a place, read for visitors,
marketplaces and aggregators (read-only)."""
