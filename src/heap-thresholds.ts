/**
 * glibc's heap thresholds, raised once at the start of a proxy process (cli.ts, a worker's
 * entry), before anything else is loaded.
 *
 * Client sockets over TLS, and node's engine's, do not read into the shared buffer plain
 * sockets read into (proxy/raw/read-buffer.ts): node reads each into a fresh 64 KiB allocation,
 * so a 1 MiB upload is 16 of them, freed together a scavenge later. With glibc's defaults the
 * top of the heap is then given back to the kernel (M_TRIM_THRESHOLD, 128 KiB) and faulted in
 * again by the next reads: 10 connections posting 1 MiB through the socket engine (measured
 * when its plain client sockets read that way too) took ~240 page faults a request and ran at
 * 983 req/s. glibc raises both thresholds by itself when a block it had
 * mmap()ed is freed (mallopt(3), the dynamic mmap threshold, up to 32 MiB): freeing one 31 MiB
 * block sets M_MMAP_THRESHOLD to 31 MiB and M_TRIM_THRESHOLD to 62 MiB, so that much freed heap
 * is kept for the next reads. Measured the same way: 1,788 req/s and almost no page faults
 * (GLIBC_TUNABLES with a 64 MiB trim threshold: 1,714 req/s). A 16 MiB block (32 MiB kept) was
 * not enough: a scavenge may free more read buffers than that at once, and then it trims.
 * The cost: up to 62 MiB of freed heap stays resident after a burst of large bodies.
 *
 * The block is never touched (no page of it becomes resident) and is dropped at once; the
 * scavenges of loading the proxy free it. Done later, once the process has warmed up, it did
 * not take effect in our measurements. Elsewhere than glibc (musl) it is a short-lived buffer.
 */
const BLOCK_BYTES = 31 * 1024 * 1024

export function raiseHeapThresholds(): void {
  Buffer.allocUnsafeSlow(BLOCK_BYTES)
}
