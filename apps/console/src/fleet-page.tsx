export function FleetPage() {
  return (
    <section>
      <h1>Fleet</h1>
    </section>
  );
}
