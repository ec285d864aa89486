"""The town staff's back office under /staff/: server-rendered pages on the booking services."""
