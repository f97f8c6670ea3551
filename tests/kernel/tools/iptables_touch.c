/* iptables_touch.c - what `iptables-legacy -L` does first: asks for the legacy filter table's info in the
 * calling namespace, which instantiates the table there from iptable_filter's template (the kernel suite has no
 * iptables binary). With `insmod iptable_filter.ko forward=0` the new table's FORWARD policy is DROP.
 * Prints the table's hook count; exit 1 on an error. build: gcc -static -O2 -o iptables_touch iptables_touch.c */
#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int main(void) {
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0) { perror("socket"); return 1; }
	struct ipt_getinfo info;
	memset(&info, 0, sizeof info);
	strcpy(info.name, "filter");
	socklen_t len = sizeof info;
	if (getsockopt(fd, IPPROTO_IP, IPT_SO_GET_INFO, &info, &len) != 0) { perror("IPT_SO_GET_INFO"); return 1; }
	printf("filter: %u entries\n", info.num_entries);
	return 0;
}
