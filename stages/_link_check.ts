/**
 * What must agree between objects before they link, as libbpf's linker
 * wants: byte order, license, kernel version; no legacy `maps` sections.
 *
 * @module
 */

import { LinkError } from "../errors/mod.ts";
import type { ObjectPlan } from "./_link_plan.ts";
import type { LoadContext } from "./context.ts";

/**
 * Check that the objects agree, and set the merged `ctx`'s license and
 * kernel version from the first object that has one.
 */
export function checkAgreement(ctx: LoadContext, plans: readonly ObjectPlan[]): void {
  const first = plans[0];
  let license: ObjectPlan | undefined;
  let version: ObjectPlan | undefined;
  for (const plan of plans) {
    if (plan.ctx.byteOrder !== first.ctx.byteOrder) {
      throw new LinkError(
        "LINK_BYTE_ORDER_MISMATCH",
        `${plan.name} is ${plan.ctx.byteOrder}-endian, ${first.name} is ${first.ctx.byteOrder}-endian`,
      );
    }
    if (plan.ctx.license !== "") {
      if (license !== undefined && license.ctx.license !== plan.ctx.license) {
        throw new LinkError(
          "LINK_LICENSE_MISMATCH",
          `license ${JSON.stringify(plan.ctx.license)} of ${plan.name} differs from ${
            JSON.stringify(license.ctx.license)
          } of ${license.name}; libbpf links only identical license sections`,
        );
      }
      license ??= plan;
    }
    if (plan.ctx.kernelVersion !== 0) {
      if (version !== undefined && version.ctx.kernelVersion !== plan.ctx.kernelVersion) {
        throw new LinkError(
          "LINK_VERSION_MISMATCH",
          `kernel version 0x${plan.ctx.kernelVersion.toString(16)} of ${plan.name} differs from 0x${
            version.ctx.kernelVersion.toString(16)
          } of ${version.name}`,
        );
      }
      version ??= plan;
    }
    for (const sec of plan.ctx.sections.values()) {
      if (sec.kind === "legacyMaps") {
        throw new LinkError(
          "LINK_LEGACY_MAPS",
          `${plan.name}: section ${sec.section.name}: legacy map definitions can't be statically linked (libbpf's linker refuses them too); use BTF-defined maps in .maps`,
        );
      }
    }
  }
  ctx.license = license?.ctx.license ?? "";
  ctx.kernelVersion = version?.ctx.kernelVersion ?? 0;
}
