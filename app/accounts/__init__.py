"""Who may do what at the station: accounts, sign-in, roles and the idle lock (no Qt here).

`store.AccountStore` keeps the accounts in the station database and writes every change, sign-in and
lock to the journal's accounts stream; `roles.POLICY` is the one table of protected actions.
"""
