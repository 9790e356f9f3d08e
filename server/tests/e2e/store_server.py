"""An S3-compatible server for tests: moto's, in this process, on a port of its own that
survives a stop, so a test can take the store away and bring it back with its objects."""

from __future__ import annotations

from moto.server import ThreadedMotoServer
from s3fs import S3FileSystem

from .processes import free_port


class StoreServer:
    """moto's server with a bucket of its own (moto keeps every server's objects in this
    process); `env` is what a process needs to reach it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.bucket = f"artifacts-{self.port}"
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        self._server: ThreadedMotoServer | None = None
        self.start()
        self.client().mkdir(self.bucket)

    def start(self) -> None:
        """Serve again on the same port; moto keeps the objects in this process."""
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        server.start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self) -> S3FileSystem:
        fs = S3FileSystem(
            key="testing",
            secret="testing",
            endpoint_url=self.endpoint,
            skip_instance_cache=True,
            use_listings_cache=False,
        )
        return fs
