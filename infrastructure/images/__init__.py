"""Property photos, outside the domain: what the image policy and the upload endpoint build on.

- ``upload_checks``: ``inspect_upload`` (accept or refuse an upload, with an HTTP-ish status).
- ``variants``: ``make_variants`` (oriented, sRGB, metadata-free WebP/AVIF/JPEG at display sizes).
- ``blob_store``: originals, content-addressed by SHA-256 (``LocalBlobStore`` under ``var/blobs``);
  ``cloudinary_blob_store``: the same as private raw files on Cloudinary, for workers on any host.
- ``image_store``: the ``ImageStore`` port, ``StoredVariant``, and the transient/permanent errors.
- ``local_store`` and ``cloudinary_store``: the two adapters of that port.
"""
