//! SCIM users and groups: owned by the SCIM API work (issue 4).
