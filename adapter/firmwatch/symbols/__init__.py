"""ELF/DWARF symbols, types, the expression compiler and the value codec."""
