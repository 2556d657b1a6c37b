/** Placeholder until the edit stage is written. */
export async function trainEditStage(): Promise<void> {
  throw new Error("edit stage not written yet");
}
