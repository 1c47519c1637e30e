"""`gen alerts backtest`: how often each alerting rule would have fired over past data."""
