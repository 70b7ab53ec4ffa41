// Package domain holds embedstream's domain schemas and validates loaded
// tables against them.
//
// # Domains
//
// A [Domain] names an id field (STRING or INT64, never null, unique in the
// file), the fields a file must have, the known fields with the column types
// each may have, and optionally an embedding field that must be a
// fixed-dimension FLOAT_VECTOR (of a given dimension, when one is set).
// Known optional fields may hold nulls; columns the domain does not know
// pass through unchecked; a table of zero records is always valid.
//
// Two domains are built in, recruit and candidate ([Builtin]); more come
// from a YAML or JSON file ([NewRegistry], DOMAINS_FILE):
//
//	domains:
//	  - name: job_posting          # one subject token: [A-Za-z0-9][A-Za-z0-9_:-]*
//	    id_field: posting_id       # types default to [STRING, INT64]
//	    required: [title]          # the id field is always required
//	    fields:                    # known fields: a type or a list of types
//	      title: STRING
//	      salary: [INT64, DOUBLE]
//	      tags: STRING_LIST
//	    embedding:                 # optional
//	      field: embedding         # FLOAT_VECTOR, added to fields if absent
//	      dim: 384                 # optional fixed dimension
//
// Unknown keys in the file are errors, and a file domain may not reuse a
// built-in's name.
//
// # Errors
//
// [Domain.Validate] returns errors wrapping [ErrValidation], each a
// [*FieldError] naming the field and, where one is at fault, the row
// (0-based, in file order). [Registry.Lookup] returns [ErrUnknownDomain]
// listing the known domains.
package domain
