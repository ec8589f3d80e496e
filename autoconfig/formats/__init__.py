"""What clients read, one module per format, each a pure function of settings and account (no HTTP):
thunderbird.py (config-v1.1.xml) with thunderbird_qr.py (Thunderbird for Android's QR code), outlook.py
(POX and autodiscover.json), apple.py (.mobileconfig) with signing.py and signing_check.py (the chain, the
dates and a test signature at each load), pacc.py (the IETF draft's document), dns.py (the records to
publish), importer.py (config-v1.1.xml back into settings), xmlslots.py (documents built once, with holes
for each person's values), and hardened_xml.py (the one parser for XML from outside: requests, imported
files, the probe's answers). autoconfig/version.py makes each once per version of the settings."""
