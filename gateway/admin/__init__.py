"""The admin console: the database `metahog`, for admin users, answering SHOW SESSIONS, SHOW
SOURCES, SHOW STATS, SHOW CONFIG, RELOAD and CANCEL over the simple query protocol, the way
pgbouncer's console does. One module per command; `commands.py` names them."""
