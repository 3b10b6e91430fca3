"""The optional Spark engine: session set-up shared by spark_als and `recsys spark ...`."""
