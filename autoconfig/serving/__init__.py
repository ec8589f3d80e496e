"""Running the service: a supervisor process (supervisor.py) that validates the settings, keeps a
snapshot of what it validated (snapshot.py), and keeps worker processes (worker.py) serving it on
uvicorn with guarded HTTP protocols (protocol.py)."""
