"""The DWARF numbers this reader uses (tags, attributes, encodings, operations, languages).

Numbers are the DWARF 5 standard's; GNU extensions are marked. Forms live in ``forms.py``
with the table that decodes them.
"""

from __future__ import annotations

# -- tags -------------------------------------------------------------------------------------------
TAG_array_type = 0x01
TAG_class_type = 0x02
TAG_enumeration_type = 0x04
TAG_formal_parameter = 0x05
TAG_label = 0x0A
TAG_lexical_block = 0x0B
TAG_member = 0x0D
TAG_pointer_type = 0x0F
TAG_reference_type = 0x10
TAG_compile_unit = 0x11
TAG_structure_type = 0x13
TAG_subroutine_type = 0x15
TAG_typedef = 0x16
TAG_union_type = 0x17
TAG_unspecified_parameters = 0x18
TAG_variant = 0x19
TAG_inheritance = 0x1C
TAG_inlined_subroutine = 0x1D
TAG_ptr_to_member_type = 0x1F
TAG_subrange_type = 0x21
TAG_base_type = 0x24
TAG_const_type = 0x26
TAG_enumerator = 0x28
TAG_subprogram = 0x2E
TAG_template_type_param = 0x2F
TAG_template_value_param = 0x30
TAG_variant_part = 0x33
TAG_variable = 0x34
TAG_volatile_type = 0x35
TAG_restrict_type = 0x37
TAG_namespace = 0x39
TAG_unspecified_type = 0x3B
TAG_partial_unit = 0x3C
TAG_rvalue_reference_type = 0x42
TAG_atomic_type = 0x47
TAG_call_site = 0x48
TAG_call_site_parameter = 0x49
TAG_GNU_call_site = 0x4109
TAG_GNU_call_site_parameter = 0x410A

# -- attributes -------------------------------------------------------------------------------------
AT_sibling = 0x01
AT_location = 0x02
AT_name = 0x03
AT_byte_size = 0x0B
AT_bit_offset = 0x0C
AT_bit_size = 0x0D
AT_stmt_list = 0x10
AT_language = 0x13
AT_discr = 0x15
AT_discr_value = 0x16
AT_comp_dir = 0x1B
AT_const_value = 0x1C
AT_lower_bound = 0x22
AT_producer = 0x25
AT_prototyped = 0x27
AT_upper_bound = 0x2F
AT_abstract_origin = 0x31
AT_count = 0x37
AT_data_member_location = 0x38
AT_decl_file = 0x3A
AT_decl_line = 0x3B
AT_declaration = 0x3C
AT_encoding = 0x3E
AT_external = 0x3F
AT_specification = 0x47
AT_type = 0x49
AT_signature = 0x69
AT_data_bit_offset = 0x6B
AT_linkage_name = 0x6E
AT_str_offsets_base = 0x72
AT_addr_base = 0x73
AT_MIPS_linkage_name = 0x2007  # GNU
AT_GNU_addr_base = 0x2133  # GNU split DWARF

# Attributes whose data forms carry a constant whose signedness only the type knows: the
# decoders hand them on as (raw value, byte count).
SIZED_CONST_ATTRS = frozenset({AT_const_value, AT_discr_value})

# -- base type encodings ----------------------------------------------------------------------------
ATE_address = 0x1
ATE_boolean = 0x2
ATE_complex_float = 0x3
ATE_float = 0x4
ATE_signed = 0x5
ATE_signed_char = 0x6
ATE_unsigned = 0x7
ATE_unsigned_char = 0x8
ATE_UTF = 0x10

# -- location expression operations -----------------------------------------------------------------
OP_addr = 0x03
OP_constu = 0x10
OP_consts = 0x11
OP_plus_uconst = 0x23
OP_addrx = 0xA1
OP_GNU_addr_index = 0xFB

# -- source languages -------------------------------------------------------------------------------
LANG_RUST = 0x1C
LANG_CXX = frozenset({0x04, 0x1A, 0x21, 0x2B})
LANG_C = frozenset({0x01, 0x02, 0x0C, 0x1D, 0x2C})

# -- tag sets the passes use ------------------------------------------------------------------------
# Children of functions that are code-only: skipped while indexing (see reader.parse_unit).
CODE_TAGS = frozenset({TAG_subprogram, TAG_lexical_block, TAG_inlined_subroutine})
CODE_ONLY_TAGS = frozenset(
    {
        TAG_formal_parameter,
        TAG_label,
        TAG_unspecified_parameters,
        TAG_call_site,
        TAG_call_site_parameter,
        TAG_GNU_call_site,
        TAG_GNU_call_site_parameter,
        TAG_template_type_param,
        TAG_template_value_param,
    }
)
# Tags that never describe a type; every other DIE gets a TypeId reserved by the index pass,
# so ids stay fixed while types are materialized on demand (see lazy.LazyTypes).
NOT_TYPE_TAGS = frozenset(
    {
        0x03, 0x05, 0x08, 0x0A, 0x0B, 0x0D, 0x11, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E,
        0x22, 0x23, 0x25, 0x27, 0x28, 0x2A, 0x2B, 0x2C, 0x2E, 0x2F, 0x30, 0x32, 0x33, 0x34,
        0x36, 0x39, 0x3A, 0x3C, 0x3D, 0x3F, 0x41, 0x48, 0x49, 0x4A,
        0x4107, 0x4108, 0x4109, 0x410A,
    }
)  # fmt: skip
# C aggregate types whose children the index pass steps over (read again when used).
LAZY_CHILDREN_TAGS = frozenset(
    {TAG_structure_type, TAG_union_type, TAG_class_type, TAG_enumeration_type, TAG_subroutine_type}
)
STRUCT_KINDS = {TAG_structure_type: "struct", TAG_union_type: "union", TAG_class_type: "class"}
QUALIFIERS = {
    TAG_const_type: "const",
    TAG_volatile_type: "volatile",
    TAG_atomic_type: "_Atomic",
    TAG_restrict_type: "restrict",
}
TYPE_TAGS = frozenset(
    {
        TAG_array_type,
        TAG_class_type,
        TAG_enumeration_type,
        TAG_pointer_type,
        TAG_reference_type,
        TAG_structure_type,
        TAG_subroutine_type,
        TAG_typedef,
        TAG_union_type,
        TAG_ptr_to_member_type,
        TAG_base_type,
        TAG_const_type,
        TAG_volatile_type,
        TAG_restrict_type,
        TAG_unspecified_type,
        TAG_rvalue_reference_type,
        TAG_atomic_type,
    }
)
