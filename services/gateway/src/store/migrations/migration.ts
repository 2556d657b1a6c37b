/** One schema change: applied once, in version order, inside the migration transaction. */
export interface Migration {
  /** Strictly increasing, never reused. */
  version: number;
  /** Short description, stored beside the version. */
  name: string;
  /** The statements. Never edit a released migration: its checksum is verified at every start. */
  sql: string;
}
