// What the product says spot saves, in one place: the README, Pulumi.yaml's description of `spot`
// and `npm run plan` all quote this figure (test/project.test.ts keeps them equal).

/**
 * How much less a spot instance typically costs than on-demand, in percent, for the GPU types
 * this product runs: AWS's spot prices for g4dn, g5 and g6 have mostly sat around 60% below list
 * (the offline sample prices agree), though they move by zone and hour.
 */
export const SPOT_TYPICAL_SAVING_PERCENT = 60;

/** The phrase every place uses. */
export const SPOT_SAVING_PHRASE = `typically about ${SPOT_TYPICAL_SAVING_PERCENT}% cheaper`;
