"""Upload files to Azurite (Azure Blob Storage's emulator) for tests/object_store_azure.rs:

    python azure_put.py BLOB_ENDPOINT CONTAINER NAME FILE [NAME FILE ...]

BLOB_ENDPOINT is e.g. http://127.0.0.1:10000/devstoreaccount1; the container is created if
needed. The account and key are Azurite's well-known development ones. An empty FILE argument
("") uploads an empty blob (a `_SUCCESS` marker).
"""

import sys

from azure.storage.blob import BlobServiceClient

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def main():
    endpoint, container, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
    conn = f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};BlobEndpoint={endpoint};"
    service = BlobServiceClient.from_connection_string(conn)
    client = service.get_container_client(container)
    if not client.exists():
        client.create_container()
    for name, path in zip(pairs[::2], pairs[1::2]):
        data = open(path, "rb").read() if path else b""
        client.upload_blob(name, data, overwrite=True)


if __name__ == "__main__":
    main()
