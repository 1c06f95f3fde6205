"""What every test peer does around its server: publish its port, live only as
long as the process that started it, and clean up after itself.

Shared by evm_node.py and dogecoin_fixture_rpc.py (stdlib only, so it runs
under both the peers' venv and the system python3)."""

import os


def write_port_file(path, port):
    """Atomically: a reader never sees a partial file."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{port}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def serve_until_parent_exits(server, stop, port, port_file, log, poll_seconds=1.0):
    """Blocks until `stop` is set or the parent process is gone, then shuts
    `server` down. A test run that dies (kill -9, a crash, a timeout) must not
    leave peers running in the background. The port file is removed only if it
    is still ours, so a waiting test never connects to a dead port from a
    previous run."""
    parent = os.getppid()
    while not stop.wait(poll_seconds):
        if os.getppid() != parent:
            log("parent process is gone, shutting down")
            break
    server.shutdown()
    server.server_close()
    if port_file:
        try:
            with open(port_file, encoding="ascii") as f:
                if f.read().strip() == str(port):
                    os.unlink(port_file)
        except OSError:
            pass
