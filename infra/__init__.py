"""The redis-vpc Pulumi program: config -> components -> resources -> outputs."""
