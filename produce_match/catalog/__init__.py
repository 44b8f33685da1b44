"""The commodity catalogue and China's administrative regions."""
