# Jupyter server configuration, installed by gpu-notebook's boot bundle.
# It carries the settings jupyter_server 2.x honours (JupyterLab on the Deep Learning AMI) and,
# after them, the 1.x names for the same settings, so either server version enforces them.
c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.ServerApp.ip = {{listenAddress}}
c.ServerApp.port = {{port}}
# Fail instead of silently moving to another port that the firewall does not open.
c.ServerApp.port_retries = 0
c.ServerApp.open_browser = False
c.ServerApp.allow_remote_access = True
c.ServerApp.root_dir = {{notebookDir}}

# HTTPS only: plain HTTP on this port gets no notebook.
c.ServerApp.certfile = {{certFile}}
c.ServerApp.keyfile = {{keyFile}}

# People log in with the password; the hash was computed by the deploying program and comes with
# the user data (a secret, never in the bundle), readable by the notebook user only. The unit
# refuses to start without it. The only token is the idle watcher's: made on the instance at first
# start (never in the user data), readable by root and the notebook user only; without that file
# there is no token at all.
with open({{passwordHashFile}}, encoding="utf-8") as hash_file:
    password_hash = hash_file.read().strip()
try:
    with open({{tokenFile}}, encoding="utf-8") as token_file:
        machine_token = token_file.read().strip()
except OSError:
    machine_token = ""
c.PasswordIdentityProvider.hashed_password = password_hash
c.PasswordIdentityProvider.password_required = True
c.PasswordIdentityProvider.allow_password_change = False
c.IdentityProvider.token = machine_token

# jupyter_server 1.x names of the same settings.
c.ServerApp.password = password_hash
c.ServerApp.password_required = True
c.ServerApp.token = machine_token
