"""What clients read, one module per format, each a pure function of settings and account (no HTTP):
thunderbird.py (config-v1.1.xml), outlook.py (POX and autodiscover.json), apple.py (.mobileconfig) with
signing.py, dns.py (the records to publish), importer.py (config-v1.1.xml back into settings),
xmlslots.py (documents built once, with holes for each person's values), and hardened_xml.py (the one
parser for XML from outside: requests, imported files, the probe's answers)."""
