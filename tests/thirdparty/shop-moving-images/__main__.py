"""Shop: Cloud Run services and a job, production by label, images from three registries.

No Redis and no VPC: only what each workload runs. The storefront follows `:latest`, the
reindex job names no tag at all, the v1 cart service follows the `stable` channel: each can run
another image after its next revision. Checkout is pinned by digest, the worker by a release
tag, and the image of the API is built from the registry repository's id (not known before the
repository exists: a preview cannot tell yet).
"""

import pulumi_gcp as gcp

region = gcp.config.region
labels = {"app": "shop", "production": "true"}
DIGEST = "sha256:" + "5f2b9c0e1d7a4b3c" * 4

repo = gcp.artifactregistry.Repository(
    "images", repository_id="shop", format="DOCKER", location=region, labels=labels
)


def service(name: str, image) -> gcp.cloudrunv2.Service:
    return gcp.cloudrunv2.Service(
        name,
        name=f"shop-{name}",
        location=region,
        deletion_protection=False,
        labels=labels,
        template={"containers": [{"image": image}]},
    )


service("storefront", "europe-docker.pkg.dev/acme-shop-live/shop/storefront:latest")
service("checkout", f"europe-docker.pkg.dev/acme-shop-live/shop/checkout@{DIGEST}")
service("worker", "europe-docker.pkg.dev/acme-shop-live/shop/worker:4.2.1")
service(
    "api",
    repo.id.apply(lambda _: f"europe-docker.pkg.dev/acme-shop-live/shop/api@{DIGEST}"),
)

gcp.cloudrunv2.Job(
    "reindex",
    name="shop-reindex",
    location=region,
    deletion_protection=False,
    labels=labels,
    template={
        "template": {"containers": [{"image": "europe-docker.pkg.dev/acme-shop-live/shop/reindex"}]}
    },
)

gcp.cloudrun.Service(
    "cart",
    name="shop-cart",
    location=region,
    metadata={"labels": labels},
    template={"spec": {"containers": [{"image": "gcr.io/acme-shop-live/cart:stable"}]}},
)
