/**
 * Constants of the ELF-64 file format, named as the System V ABI spells them
 * ("System V Application Binary Interface", chapter 4: Object Files, sections
 * "ELF Header" and "Sections"; the ELF-64 Object File Format, version 1.5).
 *
 * @module
 */

/** The four magic bytes at the start of every ELF file: 0x7f 'E' 'L' 'F'. */
export const ELFMAG = new Uint8Array([0x7f, 0x45, 0x4c, 0x46]);
/** Index of the file class byte in e_ident. */
export const EI_CLASS = 4;
/** Index of the data encoding byte in e_ident. */
export const EI_DATA = 5;
/** Index of the ABI version byte in e_ident; pelf's magic starts here. */
export const EI_ABIVERSION = 8;
/** e_ident[EI_CLASS] of a 32-bit object. */
export const ELFCLASS32 = 1;
/** e_ident[EI_CLASS] of a 64-bit object. */
export const ELFCLASS64 = 2;
/** e_ident[EI_DATA] of a little-endian object. */
export const ELFDATA2LSB = 1;
/** e_ident[EI_DATA] of a big-endian object. */
export const ELFDATA2MSB = 2;

/** Size of the ELF-64 header. */
export const ELF64_EHDR_SIZE = 64;
/** Offset of e_machine in the ELF-64 header. */
export const E_MACHINE_OFFSET = 0x12;
/** Offset of e_phoff in the ELF-64 header. */
export const E_PHOFF_OFFSET = 0x20;
/** Offset of e_shoff in the ELF-64 header. */
export const E_SHOFF_OFFSET = 0x28;
/** Offset of e_phentsize in the ELF-64 header. */
export const E_PHENTSIZE_OFFSET = 0x36;
/** Offset of e_phnum in the ELF-64 header. */
export const E_PHNUM_OFFSET = 0x38;
/** Offset of e_shentsize in the ELF-64 header. */
export const E_SHENTSIZE_OFFSET = 0x3a;
/** Offset of e_shnum in the ELF-64 header. */
export const E_SHNUM_OFFSET = 0x3c;
/** Offset of e_shstrndx in the ELF-64 header. */
export const E_SHSTRNDX_OFFSET = 0x3e;

/** Size of one ELF-64 section header. */
export const ELF64_SHDR_SIZE = 64;
/** Offset of sh_name in an ELF-64 section header. */
export const SH_NAME_OFFSET = 0x00;
/** Offset of sh_type in an ELF-64 section header. */
export const SH_TYPE_OFFSET = 0x04;
/** Offset of sh_flags in an ELF-64 section header. */
export const SH_FLAGS_OFFSET = 0x08;
/** Offset of sh_addr in an ELF-64 section header. */
export const SH_ADDR_OFFSET = 0x10;
/** Offset of sh_offset in an ELF-64 section header. */
export const SH_OFFSET_OFFSET = 0x18;
/** Offset of sh_size in an ELF-64 section header. */
export const SH_SIZE_OFFSET = 0x20;
/** Offset of sh_link in an ELF-64 section header. */
export const SH_LINK_OFFSET = 0x28;
/** Offset of sh_info in an ELF-64 section header. */
export const SH_INFO_OFFSET = 0x2c;
/** Offset of sh_addralign in an ELF-64 section header. */
export const SH_ADDRALIGN_OFFSET = 0x30;
/** Offset of sh_entsize in an ELF-64 section header. */
export const SH_ENTSIZE_OFFSET = 0x38;

/** Size of one ELF-64 program header (chapter 5, "Program Header"). */
export const ELF64_PHDR_SIZE = 56;
/** Offset of p_type in an ELF-64 program header. */
export const P_TYPE_OFFSET = 0x00;
/** Offset of p_offset in an ELF-64 program header. */
export const P_OFFSET_OFFSET = 0x08;
/** Offset of p_filesz in an ELF-64 program header. */
export const P_FILESZ_OFFSET = 0x20;
/** e_phnum value meaning "the real count is in section 0's sh_info". */
export const PN_XNUM = 0xffff;

/** Section type: inactive header. */
export const SHT_NULL = 0;
/** Section type: program-defined contents. */
export const SHT_PROGBITS = 1;
/** Section type: string table. */
export const SHT_STRTAB = 3;
/** Section type: relocations with addends (sh_info names the section they apply to). */
export const SHT_RELA = 4;
/** Section type: occupies no space in the file. */
export const SHT_NOBITS = 8;
/** Section type: relocations without addends (sh_info names the section they apply to). */
export const SHT_REL = 9;

/** Section flag: the section occupies memory while the program runs. */
export const SHF_ALLOC = 0x2n;
/** Section flag: sh_info holds a section header index. */
export const SHF_INFO_LINK = 0x40n;

/** First reserved section index; e_shnum and e_shstrndx escape through section 0 at or above it. */
export const SHN_LORESERVE = 0xff00;
/** e_shstrndx value meaning "the real index is in section 0's sh_link". */
export const SHN_XINDEX = 0xffff;

/** e_machine of x86-64. */
export const EM_X86_64 = 62;
/** e_machine of AArch64. */
export const EM_AARCH64 = 183;
