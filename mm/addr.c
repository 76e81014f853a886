/* The bases behind include/mm/addr.h's conversions. */
#include <mm/addr.h>

struct addr_bases addr_bases;

void addr_init(const struct boot_info *bi)
{
	addr_bases.direct_map = bi->direct_map_base;
	addr_bases.kernel_virt = bi->kernel_virt_base;
	addr_bases.kernel_phys = bi->kernel_phys_base;
	addr_bases.kernel_size = bi->kernel_size;
}
