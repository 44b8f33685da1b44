"""The officials' area: the dashboard, lots at risk, deals, the problem ledger (台账), exports."""
