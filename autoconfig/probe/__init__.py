"""`autoconfig probe`: replay, against the live deployment, what each mail client does for one address,
and compare what it ends up with to what the settings say.

records.py (DNS), tls.py (certificates), network.py (how the probe reaches names), expected.py (what the
settings say a client should end up with), chains.py (how a client's steps add up), one module per
client family (thunderbird, outlook, apple, pacc, dav), run.py (all of it, in order), report.py (the
results and how they are printed) and command.py (the click command).
"""
